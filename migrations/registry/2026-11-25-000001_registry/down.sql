DROP TABLE meta; DROP TABLE organisations;
