"""learnloop inside the frameworks assistants are built with.

- ``learnloop.integrations.langchain``: a langchain-core retriever and callback handler
  (``pip install 'learnloop[langchain]'``);
- ``learnloop.integrations.llama_index``: a llama-index-core retriever and callback handler
  (``pip install 'learnloop[llamaindex]'``).

Each retriever recommends (or searches) through a ``learnloop.Client`` and puts the
impression id and item id in each document's metadata; each handler reports what the
documents led to (used, clicked, succeeded, failed, feedback) as learnloop events.
"""
