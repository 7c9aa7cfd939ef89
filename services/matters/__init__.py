"""Matters service (事项与办件): the shipped catalog (事项目录), cases from the window to pickup, and their
deadlines in working days (限时办结) with yellow and red cards (黄牌/红牌)."""
