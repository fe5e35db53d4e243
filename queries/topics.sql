-- How many papers each topic of the keyword taxonomy covers.
SELECT topic, count(*) AS papers
FROM (SELECT unnest(topics) AS topic FROM papers)
GROUP BY ALL
ORDER BY papers DESC, topic;
