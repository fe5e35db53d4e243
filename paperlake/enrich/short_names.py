"""A paper's short name: the part of its title before ':' when that reads as a name (ReAct, CHART-6)."""

SHORT_NAME_STOPWORDS = frozenset(
    {"a", "an", "the", "of", "on", "in", "for", "to", "and", "or", "as", "with", "via", "is", "are", "by"}
    | {"from", "at", "towards", "toward", "beyond"}
)


def short_name(title: str) -> str | None:
    """'ReAct: Synergizing Reasoning…' → 'ReAct'; None when the part before ':' reads as a phrase."""
    head, sep, _ = title.partition(":")
    head = head.strip()
    if not sep or not head or len(head) > 40:
        return None
    words = head.split()
    if len(words) > 3 or any(w.lower() in SHORT_NAME_STOPWORDS for w in words):
        return None
    if len(words) == 1:
        return head if head[0].isupper() or head[0].isdigit() else None
    # several words: a name only when one is styled like one (CHART-6, COBRA Frames), not a phrase
    styled = any(sum(c.isupper() for c in w) >= 2 or any(c.isdigit() for c in w) for w in words)
    return head if styled else None
