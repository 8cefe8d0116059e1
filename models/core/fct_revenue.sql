MODEL (
  name core.fct_revenue,
  signals [data_complete()],
  kind FULL,
  grain (revenue_event_id),
  description 'Every revenue event up to the as-of date as a signed amount: purchases (+), refunds (-) and subscription charges (+, at the start of a subscription and at each renewal or resumption).',
  column_descriptions (
    event_type = 'purchase, refund or subscription_charge',
    amount_usd = 'Signed revenue in USD',
    revenue_event_id = 'Key of the revenue event: order:<order_id> or subscription:<id>:<date>',
    customer_id = 'Customer key (C + 7 digits)',
    event_date = 'Day of the event',
    category = 'Product category',
    plan_id = 'Subscription plan key'
  ),
  audits (
    unique_values(columns := (revenue_event_id)),
    not_null(columns := (revenue_event_id, customer_id, event_date, amount_usd)),
    accepted_values(column := event_type, is_in := ('purchase', 'refund', 'subscription_charge')),
    customer_in_dim_customers
  )
);

WITH versions AS (
  SELECT
    s.*,
    LAG(s.renewal_date) OVER (PARTITION BY s.subscription_id ORDER BY s.exported_on) AS previous_renewal_date,
    ROW_NUMBER() OVER (PARTITION BY s.subscription_id ORDER BY s.exported_on) AS version
  FROM staging.stg_subscriptions AS s
  WHERE s.exported_on <= @as_of_date()
), charges AS (
  -- The first charge when the subscription starts; another each time the next billing date
  -- moves forward on an active subscription (a renewal, or the end of a pause).
  SELECT subscription_id, customer_id, plan_id, start_date AS event_date, 'start' AS reason
  FROM versions
  WHERE version = 1 AND start_date <= @as_of_date()
  UNION ALL
  SELECT subscription_id, customer_id, plan_id, exported_on, 'renewal'
  FROM versions
  WHERE version > 1 AND status = 'active' AND renewal_date > previous_renewal_date
)
SELECT
  'order:' || o.order_id AS revenue_event_id,
  o.customer_id,
  o.order_date AS event_date,
  o.order_type AS event_type,
  o.category,
  NULL AS plan_id,
  o.amount_usd
FROM core.fct_orders AS o
UNION ALL
SELECT
  'subscription:' || c.subscription_id || ':' || c.event_date,
  c.customer_id,
  c.event_date,
  'subscription_charge',
  NULL,
  c.plan_id,
  p.price_usd
FROM charges AS c
JOIN core.dim_plans AS p
  ON c.plan_id = p.plan_id
SEMI JOIN core.dim_customers AS d
  ON c.customer_id = d.customer_id
