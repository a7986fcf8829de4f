"""Each commune's own knowledge (issue 12, docs/knowledge.md): entries of question, answer and
paraphrases kept per commune or province (``store.py``), read and written as CSV or Rasa 3
retrieval-intent YAML (``io.py``), found by accent-folded TF-IDF (``retrieval.py``), and the one
rule that decides between them and the intents (``decide.py``)."""
