DROP TABLE sessions; DROP TABLE meta; DROP TABLE organisations;
