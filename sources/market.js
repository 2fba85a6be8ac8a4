// The droid market's leaderboard, read from the SQLite database the demo
// ships (data/demo.db, declared as [db.demo] in jawas.toml). The queries run
// once per period for everyone, however many visitors poll /market.json;
// renders run in a read-only transaction. If the database goes away, the
// last good leaderboard keeps being served (marked with X-Jawas-Stale).
import { db } from "jawas";

export const period = "1s";

const TOP = 5;

export default async function render() {
  const demo = db("demo");
  const [leaders, [totals], [last]] = await Promise.all([
    demo.query(
      `SELECT t.name, t.clan, count(*) AS sales, sum(s.credits) AS credits,
              (SELECT droid FROM sales b WHERE b.trader = t.id ORDER BY b.credits DESC, b.id LIMIT 1) AS best
         FROM traders t JOIN sales s ON s.trader = t.id
        GROUP BY t.id
        ORDER BY credits DESC, t.name
        LIMIT ?`,
      [TOP],
    ),
    demo.query("SELECT count(*) AS sales, sum(credits) AS credits FROM sales"),
    // A column declared TIMESTAMP comes back as an ISO string (max() of it would be plain text).
    demo.query("SELECT sold_at FROM sales ORDER BY sold_at DESC LIMIT 1"),
  ]);
  return { leaders, totals: { ...totals, last: last.sold_at } };
}
