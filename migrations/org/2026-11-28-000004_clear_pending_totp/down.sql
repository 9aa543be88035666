-- Nothing to restore: the cleared values were secrets nobody had confirmed.
SELECT 1;
