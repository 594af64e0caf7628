-- 0019: placeholder (reserved for the read side of the publish gate, issue 28).
SELECT 1;
