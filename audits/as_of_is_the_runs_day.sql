AUDIT (
  name as_of_is_the_runs_day,
  blocking TRUE
);
-- Time: every row of a full model describes the day its run is for (@as_of_date: the day before
-- the execution time, within the data watermark). Every such model carries this audit, so the
-- marts' as-of dates agree with each other, and none is past the data.
SELECT as_of_date
FROM @this_model
WHERE as_of_date IS DISTINCT FROM @as_of_date()
  OR as_of_date > @data_watermark()
