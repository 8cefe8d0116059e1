MODEL (
  name marts.mart_clv,
  signals [data_complete()],
  kind FULL,
  grain customer_id,
  description 'Historical customer lifetime value per customer as of the as-of date, with tenure, average order value and purchase frequency. Revenue at risk counts open customers only; a churned customer''s predicted CLV is lost_clv_usd instead. Predicted CLV over clv_horizon_days (discounted at clv_annual_discount_rate) from scoring.clv_predictions: BG/NBD + Gamma-Gamma for orders plus subscription revenue.',
  column_descriptions (
    historical_clv_usd = 'Net revenue to date (metrics.metric_customer_ltv)',
    average_order_value_usd = 'Mean purchase amount (metrics.metric_avg_transaction_value)',
    purchases_per_month = 'Purchases divided by tenure in 30-day months (at least one month)',
    customer_id = 'Customer key (C + 7 digits)',
    as_of_date = 'The date the row describes (the day before the run''s execution time)',
    signup_date = 'Signup date',
    tenure_days = 'Days from signup to the as-of date',
    order_revenue_usd = 'Purchases minus refunds in USD',
    subscription_revenue_usd = 'Subscription charges in USD',
    purchases = 'Purchase orders',
    first_purchase_date = 'Day of the first purchase; null if none',
    last_purchase_date = 'Day of the last purchase; null if none',
    p_alive = 'Probability the customer is still buying (BG/NBD); null before the first purchase',
    expected_purchases = 'Expected purchase days over the horizon',
    expected_spend_per_purchase_usd = 'Expected spend per purchase (Gamma-Gamma)',
    predicted_order_clv_usd = 'Discounted expected order revenue over the horizon',
    predicted_subscription_clv_usd = 'Discounted monthly recurring revenue over the horizon',
    predicted_clv_usd = 'Predicted CLV over the horizon: orders plus subscription',
    churn_probability = 'Calibrated probability of churn within churn_horizon_days (null while no churn model is live)',
    churn_risk_level = 'high, medium or low from churn_probability x 100',
    churn_reasons = 'Up to three reasons for the churn probability, strongest first',
    lifecycle_stage = 'onboarding, active, dormant or churned',
    revenue_at_risk_usd = 'churn_probability x predicted_clv_usd for an open customer, 0 for a churned one (macro @revenue_at_risk)',
    lost_clv_usd = 'Value lost to churn: predicted_clv_usd of a churned customer, 0 for anyone else (macro @lost_to_churn)',
    model_version = 'The churn model version that produced the score'
  ),
  audits (
    as_of_is_the_runs_day,
    no_pii_columns,
    unique_values(columns := (customer_id)),
    not_null(columns := (customer_id, historical_clv_usd, tenure_days, predicted_clv_usd)),
    -- A refund whose purchase was rejected at ingestion can make it negative: warn, do not block.
    value_not_negative(column := historical_clv_usd, blocking := FALSE)
  )
);

SELECT
  l.customer_id,
  l.as_of_date,
  f.signup_date,
  f.tenure_days,
  l.ltv_usd AS historical_clv_usd,
  l.order_revenue_usd,
  l.subscription_revenue_usd,
  l.purchases,
  l.first_purchase_date,
  l.last_purchase_date,
  atv.mean_usd AS average_order_value_usd,
  CAST(l.purchases / GREATEST(f.tenure_days / 30.0, 1) AS DECIMAL(12, 4)) AS purchases_per_month,
  p.p_alive,
  p.expected_purchases,
  p.expected_spend_per_purchase_usd,
  p.predicted_order_clv_usd,
  p.predicted_subscription_clv_usd,
  p.predicted_clv_usd,
  lc.lifecycle_stage,
  s.churn_probability,
  s.churn_risk_level,
  s.churn_reasons,
  @revenue_at_risk(s.churn_probability, p.predicted_clv_usd, lc.lifecycle_stage) AS revenue_at_risk_usd,
  @lost_to_churn(p.predicted_clv_usd, lc.lifecycle_stage) AS lost_clv_usd,
  s.model_version
FROM metrics.metric_customer_ltv AS l
JOIN intermediate.int_customer_features AS f
  ON l.customer_id = f.customer_id
JOIN scoring.clv_predictions AS p
  ON l.customer_id = p.customer_id
LEFT JOIN intermediate.int_customer_lifecycle AS lc
  ON l.customer_id = lc.customer_id
LEFT JOIN scoring.churn_scores AS s
  ON l.customer_id = s.customer_id AND s.as_of_date = l.as_of_date
LEFT JOIN metrics.metric_avg_transaction_value AS atv
  ON l.customer_id = atv.customer_id
