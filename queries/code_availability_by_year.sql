-- Share of papers with a GitHub repository, by publication year (papers with a known date).
SELECT year(published_date) AS year, count(*) AS papers,
       round(100.0 * avg(has_code::INT), 1) AS pct_with_code
FROM papers
WHERE published_date IS NOT NULL
GROUP BY ALL
ORDER BY year;
