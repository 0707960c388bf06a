-- Service process bottlenecks: how long each step of each service takes, and how often a
-- step pushes an application past its promised time limit (working days approximated by
-- calendar days x 5/7).
WITH steps AS (
    SELECT
        application_number,
        service_item_code,
        process_node,
        handling_department,
        time_limit_days,
        node_start_time,
        node_end_time,
        DATE_DIFF('minute', node_start_time, node_end_time) / 60.0 AS step_hours
    FROM service_process_records
),
applications AS (
    SELECT
        application_number,
        MIN(node_start_time) AS started_at,
        MAX(node_end_time)   AS finished_at,
        MAX(time_limit_days) AS time_limit_days
    FROM service_process_records
    GROUP BY application_number
),
late AS (
    SELECT application_number,
           DATE_DIFF('hour', started_at, finished_at) / 24.0 * 5 / 7 > time_limit_days AS is_late
    FROM applications
    WHERE finished_at IS NOT NULL
)
SELECT
    s.service_item_code,
    s.process_node,
    s.handling_department,
    COUNT(*)                                               AS application_count,
    COUNT(*) FILTER (WHERE s.node_end_time IS NULL)        AS open_count,
    ROUND(AVG(s.step_hours), 2)                            AS avg_hours,
    ROUND(QUANTILE_CONT(s.step_hours, 0.9), 2)             AS p90_hours,
    ROUND(AVG(CASE WHEN l.is_late THEN 1.0 ELSE 0.0 END), 4) AS late_share
FROM steps AS s
LEFT JOIN late AS l ON l.application_number = s.application_number
GROUP BY s.service_item_code, s.process_node, s.handling_department
ORDER BY p90_hours DESC NULLS LAST
