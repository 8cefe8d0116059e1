AUDIT (
  name value_not_negative,
  blocking TRUE
);
-- Business sanity: money and counts that cannot be negative.
SELECT *
FROM @this_model
WHERE @column < 0
