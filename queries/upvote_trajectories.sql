-- Upvote trajectories: every paper with upvotes, its observations in date order and the change.
SELECT p.title, list(h.upvotes ORDER BY h.page_date) AS upvotes_over_time,
       list(h.page_date ORDER BY h.page_date) AS page_dates,
       max(h.upvotes) - min(h.upvotes) AS gained
FROM upvote_history h JOIN papers p USING (paper_id)
GROUP BY ALL
ORDER BY gained DESC, max(h.upvotes) DESC, p.title
LIMIT 20;
