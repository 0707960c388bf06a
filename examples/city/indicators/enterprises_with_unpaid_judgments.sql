-- Active (存续) enterprises with at least one enforcement case still unperformed.
SELECT COUNT(DISTINCT f.uscc) AS value
FROM court_enforcement AS f
JOIN enterprise_registration AS e ON e.uscc = f.uscc
WHERE f.unperformed_amount > 0
  AND f.enforcement_status IN ('执行中', '终结本次执行')
  AND e.registration_status = '存续'
