-- Near-duplicates found: papers printed under more than one title, and papers seen on several pages.
SELECT paper_id, title, n_sightings, len(title_variants) AS variants, title_variants
FROM papers
WHERE len(title_variants) > 1 OR n_sightings > 1
ORDER BY variants DESC, n_sightings DESC, title;
