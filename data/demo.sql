-- The demo's shipped database: the sales of a droid market on the dune sea.
-- sources/market.js reads it as [db.demo] (jawas.toml) once per period.
-- data/demo.db is built from this file by `make demo-db`; a test checks
-- that the committed data/demo.db holds exactly these rows.
CREATE TABLE traders (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  clan TEXT NOT NULL
);
CREATE TABLE sales (
  id INTEGER PRIMARY KEY,
  trader INTEGER NOT NULL REFERENCES traders (id),
  droid TEXT NOT NULL,
  model TEXT NOT NULL,
  credits INTEGER NOT NULL,
  sold_at TIMESTAMP NOT NULL
);
CREATE INDEX sales_trader ON sales (trader);

INSERT INTO traders (id, name, clan) VALUES
  (1, 'Het Nkik', 'Tinker clan'),
  (2, 'Wittin', 'Sandcrawler 7'),
  (3, 'Kalit', 'Sandcrawler 7'),
  (4, 'Jek', 'Scrapper guild'),
  (5, 'Dathcha', 'Tinker clan'),
  (6, 'Tteel Kkak', 'Scrapper guild'),
  (7, 'Aninkin', 'Dune sea traders'),
  (8, 'Nebit', 'Dune sea traders');

INSERT INTO sales (id, trader, droid, model, credits, sold_at) VALUES
  (1, 8, 'R5-D4', 'astromech', 1510, '2024-06-01 10:02:00'),
  (2, 7, 'CZ-3', 'protocol', 850, '2024-06-01 12:56:00'),
  (3, 6, 'GNK', 'power', 250, '2024-06-01 16:21:00'),
  (4, 5, 'WED-15', 'treadwell', 370, '2024-06-01 18:22:00'),
  (5, 7, 'CZ-3', 'protocol', 1460, '2024-06-02 08:51:00'),
  (6, 2, 'EG-6', 'power', 350, '2024-06-02 13:14:00'),
  (7, 3, 'MSE-6', 'mouse', 170, '2024-06-02 18:29:00'),
  (8, 6, 'ASP-7', 'labor', 930, '2024-06-03 10:59:00'),
  (9, 5, 'R2-D2', 'astromech', 2180, '2024-06-03 11:53:00'),
  (10, 1, 'R1-G4', 'astromech', 560, '2024-06-03 12:50:00'),
  (11, 2, 'ASP-7', 'labor', 710, '2024-06-03 13:54:00'),
  (12, 7, 'MSE-6', 'mouse', 130, '2024-06-03 18:29:00'),
  (13, 2, 'R1-G4', 'astromech', 580, '2024-06-04 09:34:00'),
  (14, 1, 'WED-15', 'treadwell', 350, '2024-06-04 12:52:00'),
  (15, 3, 'ASP-7', 'labor', 810, '2024-06-04 13:28:00'),
  (16, 5, 'WED-15', 'treadwell', 390, '2024-06-04 17:07:00'),
  (17, 3, 'R5-D4', 'astromech', 1800, '2024-06-04 18:59:00'),
  (18, 2, 'R5-D4', 'astromech', 1450, '2024-06-05 08:03:00'),
  (19, 6, 'BD-1', 'explorer', 1770, '2024-06-05 09:31:00'),
  (20, 3, 'ASP-7', 'labor', 1080, '2024-06-05 13:36:00'),
  (21, 2, 'BD-1', 'explorer', 1740, '2024-06-05 16:46:00'),
  (22, 5, 'BD-1', 'explorer', 1260, '2024-06-06 10:21:00'),
  (23, 2, 'BD-1', 'explorer', 2260, '2024-06-06 15:19:00'),
  (24, 3, 'R1-G4', 'astromech', 830, '2024-06-06 19:51:00'),
  (25, 7, 'MSE-6', 'mouse', 120, '2024-06-07 10:42:00'),
  (26, 7, 'R5-D4', 'astromech', 1170, '2024-06-07 14:15:00'),
  (27, 8, 'GNK', 'power', 260, '2024-06-07 19:15:00'),
  (28, 2, 'GNK', 'power', 210, '2024-06-08 09:22:00'),
  (29, 7, 'C-3PO', 'protocol', 2820, '2024-06-08 10:32:00'),
  (30, 8, 'EG-6', 'power', 360, '2024-06-08 12:21:00'),
  (31, 2, 'GNK', 'power', 270, '2024-06-08 17:47:00'),
  (32, 4, 'ASP-7', 'labor', 930, '2024-06-09 07:07:00'),
  (33, 1, 'C-3PO', 'protocol', 2920, '2024-06-09 09:29:00'),
  (34, 4, 'BD-1', 'explorer', 1840, '2024-06-09 12:39:00'),
  (35, 2, 'CZ-3', 'protocol', 1540, '2024-06-09 17:41:00'),
  (36, 4, 'R1-G4', 'astromech', 790, '2024-06-09 19:37:00'),
  (37, 6, 'LIN-V8K', 'mining', 750, '2024-06-10 10:21:00'),
  (38, 1, 'GNK', 'power', 230, '2024-06-10 13:17:00'),
  (39, 8, 'R5-D4', 'astromech', 1460, '2024-06-10 18:44:00'),
  (40, 5, 'R2-D2', 'astromech', 1620, '2024-06-11 07:16:00');
