-- Enterprise 360 profile: one row per registered enterprise, joined by unified social credit code.
-- Warehouse tables are named by dataset code and their columns by element code.
-- The view's key is uscc (enterprise_360.yaml): each build is checked for nulls and duplicates
-- before it goes live, so each source is first reduced to one row per enterprise.
WITH registration AS (
    -- a code registered twice (a defect the registration export lets through) counts once, at its
    -- latest approval; a registration without a code cannot be joined to anything and is left out
    SELECT *
    FROM enterprise_registration
    WHERE uscc IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY uscc ORDER BY approval_date DESC NULLS LAST, establishment_date DESC NULLS LAST
    ) = 1
),
tax AS (
    -- an enterprise's tax registration: the latest, when the tax office holds more than one
    SELECT *
    FROM tax_registration
    QUALIFY row_number() OVER (PARTITION BY uscc ORDER BY tax_registration_date DESC NULLS LAST) = 1
),
tax_paid AS (
    SELECT taxpayer_id,
           SUM(tax_paid_amount)   AS tax_paid_amount,
           MAX(tax_arrears_amount) AS tax_arrears_amount
    FROM tax_payment
    GROUP BY taxpayer_id
),
insurance AS (
    SELECT uscc,
           SUM(employee_count)           AS employee_count,
           SUM(insurance_arrears_amount) AS insurance_arrears_amount
    FROM social_insurance_enrollment
    WHERE insurance_status = '1'
    GROUP BY uscc
),
judgments AS (
    SELECT uscc, COUNT(DISTINCT case_number) AS judgment_count, MAX(judgment_date) AS judgment_date
    FROM court_judgments
    GROUP BY uscc
),
enforcement AS (
    SELECT uscc,
           COUNT(DISTINCT case_number)  AS enforcement_count,
           SUM(unperformed_amount)      AS unperformed_amount,
           BOOL_OR(dishonest_debtor_flag) AS dishonest_debtor_flag
    FROM court_enforcement
    GROUP BY uscc
)
SELECT
    e.uscc,
    e.enterprise_name,
    e.enterprise_type,
    e.legal_representative,
    e.registered_capital,
    e.establishment_date,
    e.enterprise_division,
    e.industry_code,
    e.registration_status,
    t.taxpayer_id,
    t.taxpayer_status,
    t.taxpayer_qualification,
    t.tax_credit_rating,
    p.tax_paid_amount,
    p.tax_arrears_amount,
    i.employee_count,
    i.insurance_arrears_amount,
    COALESCE(j.judgment_count, 0)    AS judgment_count,
    j.judgment_date,
    COALESCE(f.enforcement_count, 0) AS enforcement_count,
    COALESCE(f.unperformed_amount, 0) AS unperformed_amount,
    COALESCE(f.dishonest_debtor_flag, FALSE) AS dishonest_debtor_flag
FROM registration AS e
LEFT JOIN tax AS t ON t.uscc = e.uscc
LEFT JOIN tax_paid AS p ON p.taxpayer_id = t.taxpayer_id
LEFT JOIN insurance AS i ON i.uscc = e.uscc
LEFT JOIN judgments AS j ON j.uscc = e.uscc
LEFT JOIN enforcement AS f ON f.uscc = e.uscc
