-- The floor under "my tiles": every tile count of one employee, and their average KPI, in
-- one statement over the schema of migration/src/, with the same rules as the API:
-- $1 the employee's id, $2 now (examples/scale.rs binds both; on SQLite they read ?1, ?2).
-- The current period is the newest one that has started, whatever its status.
WITH cur AS (
  SELECT id, status FROM period WHERE starts_at <= $2 ORDER BY starts_on DESC LIMIT 1
), mine AS (
  SELECT kind, status, due_at FROM assignment
  WHERE assignee_id = $1 AND period_id = (SELECT id FROM cur)
)
SELECT
  -- To accept: submissions I control in every open period (in the period itself when the
  -- current period is no longer open).
  (SELECT COUNT(*) FROM assignment s
    WHERE s.controller_id = $1 AND s.status = 'submitted'
      AND s.period_id IN (SELECT p.id FROM period p, cur
                          WHERE (cur.status = 'open' AND p.status = 'open')
                             OR (cur.status <> 'open' AND p.id = cur.id))) AS to_accept,
  w.duty_total, w.duty_done, w.duty_awaiting, w.duty_remaining, w.duty_overdue,
  w.additional_total, w.additional_done, w.additional_awaiting, w.additional_remaining,
  w.additional_overdue,
  -- Published articles of my audience that I have not read.
  (SELECT COUNT(*) FROM article ar JOIN employee e ON e.id = $1
    WHERE (ar.department_id IS NULL OR ar.department_id = e.department_id)
      AND ar.published_at <= $2
      AND NOT EXISTS (SELECT 1 FROM article_read r
                      WHERE r.article_id = ar.id AND r.employee_id = $1)) AS knowledge_base_new,
  -- Open proposals of my audience that I have not voted on.
  (SELECT COUNT(*) FROM proposal pr JOIN employee e ON e.id = $1
    WHERE (pr.department_id IS NULL OR pr.department_id = e.department_id)
      AND pr.opens_at <= $2 AND pr.closes_at > $2
      AND NOT EXISTS (SELECT 1 FROM vote v
                      WHERE v.proposal_id = pr.id AND v.employee_id = $1)) AS proposals_to_vote,
  -- Mean KPI of my last `average_window` results (newest policy), in hundredths, rounded
  -- half away from zero (ROUND on both databases).
  (SELECT CAST(ROUND(AVG(k.kpi_x100)) AS BIGINT) FROM (
      SELECT kpi_x100 FROM kpi_result WHERE employee_id = $1 ORDER BY period_id DESC
      LIMIT (SELECT CASE WHEN average_window < 1 THEN 1 ELSE average_window END
             FROM kpi_policy ORDER BY version DESC LIMIT 1)) k) AS average_kpi_x100
FROM (
  -- My work of the current period: cancelled work is not counted, overdue is unfinished
  -- and past due.
  SELECT
    COUNT(*) FILTER (WHERE kind = 'duty' AND status <> 'cancelled') AS duty_total,
    COUNT(*) FILTER (WHERE kind = 'duty' AND status = 'accepted') AS duty_done,
    COUNT(*) FILTER (WHERE kind = 'duty' AND status = 'submitted') AS duty_awaiting,
    COUNT(*) FILTER (WHERE kind = 'duty' AND status IN ('todo', 'in_progress', 'returned'))
      AS duty_remaining,
    COUNT(*) FILTER (WHERE kind = 'duty' AND status IN ('todo', 'in_progress', 'returned')
                       AND due_at < $2) AS duty_overdue,
    COUNT(*) FILTER (WHERE kind = 'additional' AND status <> 'cancelled') AS additional_total,
    COUNT(*) FILTER (WHERE kind = 'additional' AND status = 'accepted') AS additional_done,
    COUNT(*) FILTER (WHERE kind = 'additional' AND status = 'submitted') AS additional_awaiting,
    COUNT(*) FILTER (WHERE kind = 'additional' AND status IN ('todo', 'in_progress', 'returned'))
      AS additional_remaining,
    COUNT(*) FILTER (WHERE kind = 'additional' AND status IN ('todo', 'in_progress', 'returned')
                       AND due_at < $2) AS additional_overdue
  FROM mine
) w
