"""The toy world's scores (metrics.py); the renderer is lamp_motion.data.toy, the base lamp_motion.toy_base."""
