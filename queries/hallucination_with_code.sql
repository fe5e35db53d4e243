-- Papers about hallucination that have code, most upvoted first (BM25 over title and abstract).
SELECT title, github_repos, upvotes_max, round(score, 2) AS score
FROM search_papers('hallucination')
WHERE has_code
ORDER BY upvotes_max DESC NULLS LAST, score DESC;
