-- Most-sighted papers, then most upvoted: what keeps showing up in your captures.
SELECT paper_id, coalesce(short_name, title) AS paper, n_sightings, upvotes_max, first_seen, last_seen
FROM papers
ORDER BY n_sightings DESC, upvotes_max DESC NULLS LAST, title
LIMIT 10;
