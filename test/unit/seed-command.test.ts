import { describe, expect, it } from 'vitest';
import type { TableSchema } from '../../src/core/schema.ts';
import { parseSeedCommand } from '../../src/runtime/import/seed-command.ts';

const salesOrder: TableSchema = {
  name: 'sales_order',
  schema: 'public',
  primaryKey: ['order_id'],
  columns: [
    ['order_id', 'text'],
    ['order_type', 'text'],
    ['description', 'text'],
    ['product_type_name', 'text'],
    ['customer_id', 'text'],
    ['quantity', 'integer'],
    ['order_date', 'date'],
    ['update_datetime', 'timestamp'],
    ['updated_by_user', 'text'],
    ['updated_by_server', 'text'],
  ].map(([name, family]) => ({ name, family: family as 'text', nativeType: family, nullable: name !== 'order_id', default: null })),
};

describe("the seed's own commands", () => {
  it('insert', () => {
    const c = parseSeedCommand(
      'INSERT INTO public.sales_order(order_id, order_type, description, product_type_name, customer_id, quantity, order_date, update_datetime, updated_by_user, updated_by_server) VALUES (~ord2~,~wholesale~,~old order~,~desktop~,~c1~,~100~,~5/25/2025~,~06/25/2025  10:30:00 AM~,~mtp~,~server1~);',
      salesOrder,
    );
    expect(c).toEqual({
      operation: 'I',
      key: { order_id: 'ord2' },
      keyOld: null,
      values: {
        order_id: 'ord2',
        order_type: 'wholesale',
        description: 'old order',
        product_type_name: 'desktop',
        customer_id: 'c1',
        quantity: 100,
        order_date: '2025-05-25',
        update_datetime: '2025-06-25T10:30:00.000000',
        updated_by_user: 'mtp',
        updated_by_server: 'server1',
      },
    });
  });

  it('update and delete', () => {
    expect(parseSeedCommand('UPDATE sales_order set description=~old order change~ where order_id=~ord2~', salesOrder)).toEqual({
      operation: 'U',
      key: { order_id: 'ord2' },
      keyOld: null,
      values: { description: 'old order change' },
    });
    expect(parseSeedCommand('delete from sales_order where order_id=~ord2~', salesOrder)).toEqual({
      operation: 'D',
      key: { order_id: 'ord2' },
      keyOld: null,
      values: {},
    });
  });

  it('a key change', () => {
    expect(parseSeedCommand("UPDATE sales_order SET order_id='ord3', quantity=-5 WHERE order_id='ord2'", salesOrder)).toEqual({
      operation: 'U',
      key: { order_id: 'ord3' },
      keyOld: { order_id: 'ord2' },
      values: { order_id: 'ord3', quantity: -5 },
    });
  });

  it('a doubled quote inside a ~…~ literal is one quote, and \\~ is a literal tilde', () => {
    expect(parseSeedCommand("UPDATE sales_order SET description = ~it''s~ WHERE order_id = ~o''1~", salesOrder)).toEqual({
      operation: 'U',
      key: { order_id: "o'1" },
      keyOld: null,
      values: { description: "it's" },
    });
    expect(parseSeedCommand('UPDATE sales_order SET description = ~a\\~b \\~~ WHERE order_id = ~x~', salesOrder).values).toEqual({
      description: 'a~b ~',
    });
    expect(() => parseSeedCommand('UPDATE sales_order SET description = ~\uE000~ WHERE order_id = ~x~', salesOrder)).toThrow(/reserved/);
  });

  it('NULL and numbers as literals', () => {
    expect(parseSeedCommand('UPDATE sales_order SET customer_id = NULL, quantity = 7 WHERE order_id = ~a~', salesOrder).values).toEqual({
      customer_id: null,
      quantity: 7,
    });
  });
});

describe('everything else is rejected with the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['delete from sales_order where order_id=~x~; drop table sales_order', /holds 2 statements/],
    ['drop table sales_order', /not valid SQL|DROP is not accepted/],
    ['select * from sales_order', /SELECT is not accepted/],
    ['delete from ds_program_parameter where id=1000', /changes ds_program_parameter, but the row is for sales_order/],
    ['delete from other.sales_order where order_id=~x~', /changes other\.sales_order/],
    ['UPDATE sales_order set description=(select version()) where order_id=~x~', /must be a literal value/],
    ['UPDATE sales_order set description=lower(~x~) where order_id=~x~', /must be a literal value, not function/],
    ['UPDATE sales_order set description=order_type where order_id=~x~', /must be a literal value, not column_ref/],
    ['UPDATE sales_order set description=~x~', /needs a WHERE on the primary key/],
    ['UPDATE sales_order set description=~x~ where order_id=~a~ or 1=1', /compare primary-key columns with literals/],
    ['UPDATE sales_order set description=~x~ where customer_id=~c1~', /exactly the primary key \(order_id\), not customer_id/],
    ['delete from sales_order where order_id=(select max(order_id) from sales_order)', /must be a literal value/],
    ['INSERT INTO sales_order(order_id, nope) VALUES (~a~, ~x~)', /nope is not a synchronized column/],
    ['INSERT INTO sales_order(order_id) VALUES (~a~), (~b~)', /exactly one VALUES row/],
    ['INSERT INTO sales_order(order_id) SELECT order_id FROM sales_order', /exactly one VALUES row|not valid SQL/],
    ['INSERT INTO sales_order(description) VALUES (~x~)', /lacks primary-key column\(s\) order_id/],
    ['INSERT INTO sales_order(order_id, quantity) VALUES (~a~, ~many~)', /quantity \(integer\): "many" is not an integer/],
    ['UPDATE sales_order SET order_date = ~not a date~ WHERE order_id = ~a~', /order_date \(date\)/],
    ['this is not sql', /not valid SQL/],
  ];
  it.each(cases)('%s', (command, reason) => {
    expect(() => parseSeedCommand(command, salesOrder)).toThrow(reason);
  });
});
