DROP TABLE spent_form_keys;
DROP TABLE id_high_water;
