"""The real-time benchmark (Zhuang et al. 2022 on the Jia et al. 2021 face-exposure sessions)."""
