-- Enterprise public credit score: 100 points less deductions for each negative record.
WITH abnormal AS (
    SELECT uscc, COUNT(*) AS abnormal_count
    FROM abnormal_operations
    WHERE abnormal_removed_date IS NULL
    GROUP BY uscc
),
tax AS (
    SELECT r.uscc,
           MIN(r.tax_credit_rating)     AS tax_credit_rating,
           SUM(p.tax_arrears_amount)    AS tax_arrears_amount
    FROM tax_registration AS r
    LEFT JOIN tax_payment AS p ON p.taxpayer_id = r.taxpayer_id
    GROUP BY r.uscc
),
insurance AS (
    SELECT uscc, SUM(insurance_arrears_amount) AS insurance_arrears_amount
    FROM social_insurance_enrollment
    GROUP BY uscc
),
court AS (
    SELECT uscc,
           SUM(unperformed_amount)        AS unperformed_amount,
           BOOL_OR(dishonest_debtor_flag) AS dishonest_debtor_flag
    FROM court_enforcement
    GROUP BY uscc
),
scored AS (
    SELECT
        e.uscc,
        e.enterprise_name,
        e.enterprise_division,
        t.tax_credit_rating,
        COALESCE(a.abnormal_count, 0) AS abnormal_count,
        COALESCE(c.dishonest_debtor_flag, FALSE) AS dishonest_debtor_flag,
        100
          - 15 * LEAST(COALESCE(a.abnormal_count, 0), 2)
          - CASE t.tax_credit_rating WHEN 'A' THEN 0 WHEN 'B' THEN 5 WHEN 'M' THEN 5
                                     WHEN 'C' THEN 20 WHEN 'D' THEN 40 ELSE 10 END
          - CASE WHEN COALESCE(t.tax_arrears_amount, 0) > 0 THEN 10 ELSE 0 END
          - CASE WHEN COALESCE(i.insurance_arrears_amount, 0) > 0 THEN 10 ELSE 0 END
          - CASE WHEN COALESCE(c.unperformed_amount, 0) > 0 THEN 15 ELSE 0 END
          - CASE WHEN COALESCE(c.dishonest_debtor_flag, FALSE) THEN 30 ELSE 0 END
          AS credit_score
    FROM enterprise_registration AS e
    LEFT JOIN abnormal AS a ON a.uscc = e.uscc
    LEFT JOIN tax AS t ON t.uscc = e.uscc
    LEFT JOIN insurance AS i ON i.uscc = e.uscc
    LEFT JOIN court AS c ON c.uscc = e.uscc
    WHERE e.registration_status = '存续'
)
SELECT
    uscc,
    enterprise_name,
    enterprise_division,
    tax_credit_rating,
    abnormal_count,
    dishonest_debtor_flag,
    GREATEST(credit_score, 0) AS credit_score,
    CASE
        WHEN credit_score >= 90 THEN 'A'
        WHEN credit_score >= 75 THEN 'B'
        WHEN credit_score >= 60 THEN 'C'
        ELSE 'D'
    END AS credit_grade
FROM scored
