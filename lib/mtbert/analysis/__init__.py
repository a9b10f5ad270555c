"""Analysis: metrics, statistics, the paper's claims, tables, figures and the ablation tables."""
