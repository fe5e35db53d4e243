-- What was quarantined and why, with the file and line to look at.
SELECT reason, count(*) AS n, min(source_file || ':' || coalesce(line_start::VARCHAR, '-')) AS example
FROM rejects
GROUP BY ALL
ORDER BY n DESC;
