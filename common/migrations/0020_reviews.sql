-- 0020: placeholder (reserved for reviews and a person's word, issue 28).
SELECT 1;
