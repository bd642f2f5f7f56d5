"""Whether an item replaces the written form (§ 3a VwVfG), and whether it is suitable at all."""
