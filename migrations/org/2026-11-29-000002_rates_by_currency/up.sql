-- The rates others used for a currency around a day (the reference a claimant's typed
-- rate is compared with) read from the index alone.
CREATE INDEX claim_lines_currency_day ON claim_lines(currency, spent_on, rate_e12, claim_id);
