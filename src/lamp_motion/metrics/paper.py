"""The LAMP paper's evaluation: its motions and the numbers of its Table 1.

``TABLE_1`` is transcribed exactly from Table 1 of the paper ("Quantitative
comparisons with the evaluated text-to-video methods", Sec. 4.2): CLIP scores as
100 x cosine similarity over the paper's 48 videos (8 motions x 6 prompts), with a
CLIP model the paper does not name. Alignment and consistency: higher is better;
diversity: lower is better. Methods are in the paper's row order; "LAMP" is its
"LAMP (Ours)" row.
"""

from __future__ import annotations

METRICS = ("alignment", "consistency", "diversity")
HIGHER_IS_BETTER = {"alignment": True, "consistency": True, "diversity": False}

# Paper Table 1: method -> (alignment, consistency, diversity).
TABLE_1: dict[str, dict[str, float]] = {
    "Tune-A-Video": {"alignment": 27.2227, "consistency": 94.8742, "diversity": 84.7186},
    "T2V-Zero": {"alignment": 26.9424, "consistency": 91.4713, "diversity": 73.0136},
    "AnimateDiff": {"alignment": 28.8779, "consistency": 97.8131, "diversity": 73.4723},
    "LAMP": {"alignment": 31.3547, "consistency": 98.3085, "diversity": 71.6535},
}
TABLE_1_DECIMALS = 4  # the paper prints four decimals
TABLE_1_VIDEOS = 48  # "We design 6 prompts for each motion to build an evaluation set containing 48 videos"
PROMPTS_PER_MOTION = 6

# The paper's eight motions (Sec. 4.2), as keys of paper_prompts.yaml.
MOTIONS = ("helicopter", "waterfall", "rain", "firework", "horse_run", "birds_fly", "turn_to_smile", "play_the_guitar")
