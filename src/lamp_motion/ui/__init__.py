"""``lamp ui``: a Gradio web app on the library API (tune, generate, edit, evaluate).

* :mod:`.uploads`: upload limits, safe zip extraction, server folders under a root;
* :mod:`.library`: the motion library folder (one subfolder per tuned motion);
* :mod:`.tuning`: a training run in a background thread, with progress and stop;
* :mod:`.handlers`: what each button does, as plain functions (tested without a browser), calling the jobs;
* :mod:`.app`: the Gradio page and its launch.
"""
