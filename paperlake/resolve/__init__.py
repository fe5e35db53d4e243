"""Entity resolution in tiers: sightings → records → candidate pairs → weighed evidence → papers.

Each rule lives in the module named after it, as SQL over a scope (`engine`):
  `keys` text keys and record ids · `records` a record's fields and block keys · `pairs` blocking and
  scoring (`paperlake.match` weighs the evidence) · `identity` clusters and ids that survive re-runs ·
  `attach` sightings without an abstract · `abstracts` the longest abstract · `survivorship` a paper's
  fields · `history` upvote history and growth · `scope` what a run reads and affects · `write` its
  commit · `memory` the engine on sightings held in memory (`make eval`, tests).
"""

from paperlake.resolve.identity import Registry
from paperlake.resolve.pairs import MatchRules

__all__ = ["MatchRules", "Registry"]
