-- Days since the newest business record in each dataset that carries a record date.
SELECT 'enterprise_registration' AS dataset,
       DATE_DIFF('day', MAX(approval_date), CURRENT_DATE) AS value
FROM enterprise_registration
UNION ALL
SELECT 'tax_registration', DATE_DIFF('day', MAX(tax_registration_date), CURRENT_DATE)
FROM tax_registration
UNION ALL
SELECT 'social_insurance_enrollment', DATE_DIFF('day', MAX(enrollment_date), CURRENT_DATE)
FROM social_insurance_enrollment
UNION ALL
SELECT 'marriage_registration', DATE_DIFF('day', MAX(marriage_registration_date), CURRENT_DATE)
FROM marriage_registration
UNION ALL
SELECT 'property_registration', DATE_DIFF('day', MAX(property_registration_date), CURRENT_DATE)
FROM property_registration
UNION ALL
SELECT 'court_enforcement', DATE_DIFF('day', MAX(filing_date), CURRENT_DATE)
FROM court_enforcement
UNION ALL
SELECT 'service_process_records', DATE_DIFF('day', MAX(CAST(node_start_time AS DATE)), CURRENT_DATE)
FROM service_process_records
