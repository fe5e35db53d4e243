-- Organisations shown instead of author counts, with their papers and best upvotes.
SELECT organization, count(*) AS papers, max(upvotes_max) AS best_upvotes, list(title ORDER BY title) AS titles
FROM papers
WHERE organization IS NOT NULL
GROUP BY ALL
ORDER BY papers DESC, organization;
