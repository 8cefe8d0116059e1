MODEL (
  name marts.mart_churn_risk_transitions,
  signals [data_complete()],
  kind VIEW,
  grain (customer_id, as_of_date),
  description 'Changes of churn risk level between consecutive scored as-of dates of a customer (from the score history in scoring.churn_scores). A customer''s first score is not a transition.',
  column_descriptions (
    customer_id = 'Customer key (C + 7 digits)',
    as_of_date = 'The as-of date of the new level',
    previous_as_of_date = 'The previous scored as-of date',
    previous_level = 'Level on the previous scored date',
    churn_risk_level = 'Level on as_of_date',
    churn_probability = 'Probability on as_of_date',
    previous_probability = 'Probability on the previous scored date',
    primary_churn_reason = 'The strongest reason on as_of_date',
    model_version = 'Model version on as_of_date'
  ),
  audits (
    no_pii_columns,
    unique_combination_of_columns(columns := (customer_id, as_of_date)),
    not_null(columns := (customer_id, as_of_date, previous_level, churn_risk_level))
  )
);

WITH ordered AS (
  SELECT
    customer_id,
    as_of_date,
    churn_risk_level,
    churn_probability,
    primary_churn_reason,
    model_version,
    LAG(as_of_date) OVER (PARTITION BY customer_id ORDER BY as_of_date) AS previous_as_of_date,
    LAG(churn_risk_level) OVER (PARTITION BY customer_id ORDER BY as_of_date) AS previous_level,
    LAG(churn_probability) OVER (PARTITION BY customer_id ORDER BY as_of_date) AS previous_probability
  FROM scoring.churn_scores
)
SELECT
  customer_id,
  as_of_date,
  previous_as_of_date,
  previous_level,
  churn_risk_level,
  churn_probability,
  previous_probability,
  primary_churn_reason,
  model_version
FROM ordered
WHERE previous_level IS NOT NULL AND previous_level <> churn_risk_level
