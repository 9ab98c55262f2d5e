// placeholder until the first regen
