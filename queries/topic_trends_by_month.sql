-- Topic trends: papers per topic per month, the five busiest topics.
WITH top AS (SELECT topic FROM topic_trends GROUP BY topic ORDER BY sum(papers) DESC LIMIT 5)
SELECT month, topic, papers
FROM topic_trends JOIN top USING (topic)
ORDER BY month, papers DESC, topic;
