AUDIT (
  name not_after_the_watermark,
  blocking TRUE
);
-- Time: no row is dated after the data watermark, the last day every daily source has delivered
-- (churnmesh/watermark.py). Nothing may describe a day the data does not cover.
SELECT @column
FROM @this_model
WHERE @column > @data_watermark()
