-- The floor under the close's "items" phase: the database's own cost to store one close's
-- KPI items, with no client involved. It copies the newest itemised close's items into a
-- temporary table, then inserts them with one INSERT ... SELECT into a table shaped and keyed
-- like kpi_item (migration m20261129_000001_kpi_item_key), and once more into one without a
-- key, inside a transaction that is rolled back: the database is left as it was.
--
--   psql -c '\timing on' -f bench/item_floor.sql postgres://postgres@127.0.0.1/DB
--   sqlite3 -cmd '.timer on' DB.sqlite < bench/item_floor.sql
--
-- Compare the two INSERT times with the close's "items" phase in the debug log
-- (ZEROBOARD_LOG=domain::close=debug) of the same seed.
CREATE TEMP TABLE item_floor_src AS
  SELECT * FROM kpi_item
  WHERE result_id IN (SELECT id FROM kpi_result
                      WHERE period_id = (SELECT MAX(period_id) FROM kpi_result WHERE itemized));
SELECT COUNT(*) AS items FROM item_floor_src;
BEGIN;
CREATE TABLE item_floor_keyed (
  result_id bigint NOT NULL, position integer NOT NULL, kind varchar NOT NULL,
  subject_id bigint, title text NOT NULL, due_at timestamp with time zone,
  met_at timestamp with time zone, outcome varchar NOT NULL, ratio double precision,
  weight double precision NOT NULL, credit double precision NOT NULL,
  points double precision NOT NULL, points_x100 bigint NOT NULL,
  points_lost double precision NOT NULL,
  PRIMARY KEY (result_id, position));
-- The same columns, no key:
CREATE TABLE item_floor_bare AS SELECT * FROM item_floor_keyed WHERE 1 = 0;
-- keyed like kpi_item:
INSERT INTO item_floor_keyed SELECT * FROM item_floor_src;
-- without any key or index:
INSERT INTO item_floor_bare SELECT * FROM item_floor_src;
ROLLBACK;
DROP TABLE item_floor_src;
