AUDIT (
  name scored_when_a_model_is_live,
  blocking TRUE
);
-- With a churn model live (churn_model_version is not 'none'), every customer of the mart has a
-- churn probability for the mart's as-of date: a missing score is a wrong prod, not an empty cell.
SELECT customer_id
FROM @this_model
WHERE churn_probability IS NULL
  AND @churn_model_version <> 'none'
