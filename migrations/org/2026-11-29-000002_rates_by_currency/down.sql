DROP INDEX claim_lines_currency_day;
