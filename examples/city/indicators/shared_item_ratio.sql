-- Share (%) of the items services need that came from sharing rather than from the applicant,
-- over applications finished in the last 30 days. Counts are per application, so take them once.
WITH applications AS (
    SELECT application_number,
           MAX(shared_item_count)    AS shared_item_count,
           MAX(applicant_item_count) AS applicant_item_count
    FROM service_process_records
    WHERE process_node = '办结'
      AND node_end_time >= CURRENT_DATE - INTERVAL 30 DAY
    GROUP BY application_number
)
SELECT ROUND(100.0 * SUM(shared_item_count)
             / NULLIF(SUM(shared_item_count) + SUM(applicant_item_count), 0), 2) AS value
FROM applications
