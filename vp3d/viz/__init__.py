"""Pictures: per-action plots of the four protocols, and animations of poses beside their 2D input."""
