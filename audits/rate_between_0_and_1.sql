AUDIT (
  name rate_between_0_and_1,
  blocking TRUE
);
-- Business sanity: rates and shares lie in [0, 1].
SELECT *
FROM @this_model
WHERE @column < 0 OR @column > 1
