// The rlhf4j labelling page: shows the oldest waiting item, lets a person rank its responses by
// clicking them best-first, and posts the ranking (or a skip) to the server's JSON API.
(() => {
  'use strict';

  const POLL_WAITING_MS = 2000;  // how often to look for new items when nothing is waiting
  const POLL_STATUS_MS = 5000;   // how often to refresh progress and status while ranking
  const RETRY_MS = 3000;         // after a network error

  const $ = (id) => document.getElementById(id);
  const el = {
    item: $('item'), waiting: $('waiting'), prompt: $('prompt'), responses: $('responses'),
    submit: $('submit'), skip: $('skip'), reset: $('reset'), message: $('message'), rankCount: $('rank-count'),
    progress: $('progress'), progressBar: $('progress-bar'), round: $('round'),
    rmAccuracy: $('rm-accuracy'), ppoScore: $('ppo-score'), stage: $('stage'),
  };

  let item = null;   // the item shown, as /api/next returned it
  let order = [];    // response indices clicked so far, best first
  let busy = false;  // an answer is being posted
  let timer = null;

  function schedule(fn, ms) {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  }

  function say(text, isError) {
    el.message.textContent = text || '';
    el.message.classList.toggle('error', !!isError);
  }

  async function call(path, body) {
    const options = body === undefined
      ? { cache: 'no-store' }
      : { method: 'POST', cache: 'no-store', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
    const response = await fetch(path, options);
    let json = {};
    try {
      json = await response.json();
    } catch (e) {
      json = { error: 'unreadable reply (HTTP ' + response.status + ')' };
    }
    return { status: response.status, json };
  }

  function letter(i) {
    return i < 26 ? String.fromCharCode(65 + i) : String(i + 1);
  }

  function showStatus(progress, status) {
    if (progress) {
      el.round.textContent = progress.round === null ? '–' : String(progress.round);
      if (progress.round === null) {
        el.progress.textContent = 'Waiting for the first round…';
        el.progressBar.style.width = '0';
      } else {
        const skipped = progress.skipped ? ' (' + progress.skipped + ' skipped)' : '';
        el.progress.textContent = progress.labelled + ' of ' + progress.total + ' labelled this round' + skipped;
        el.progressBar.style.width = (progress.total ? (100 * progress.labelled / progress.total) : 0) + '%';
        document.title = 'rlhf4j · Labelling (' + progress.labelled + '/' + progress.total + ')';
      }
    }
    if (status) {
      el.rmAccuracy.textContent = status.rewardModelAccuracy === null ? '–' : (100 * status.rewardModelAccuracy).toFixed(1) + '%';
      el.ppoScore.textContent = status.ppoScore === null ? '–' : status.ppoScore.toFixed(2).replace('-', '\u2212');
      el.stage.textContent = status.stage || '';
      el.stage.hidden = !status.stage;
    }
  }

  function showItem(next) {
    item = next;
    order = [];
    el.prompt.textContent = next.prompt;
    el.responses.replaceChildren(...next.responses.map((text, i) => {
      const card = document.createElement('button');
      card.type = 'button';
      card.className = 'response';
      card.dataset.index = String(i);
      card.setAttribute('aria-pressed', 'false');
      const rank = document.createElement('span');
      rank.className = 'rank';
      rank.setAttribute('aria-hidden', 'true');
      const body = document.createElement('span');
      body.className = 'response-body';
      const name = document.createElement('span');
      name.className = 'response-name';
      name.textContent = 'Response ' + letter(i);
      const words = document.createElement('span');
      words.className = 'response-text';
      words.textContent = text;
      const spoken = document.createElement('span');
      spoken.className = 'sr-only rank-spoken';
      body.append(name, words, spoken);
      card.append(rank, body);
      card.addEventListener('click', () => toggle(i));
      return card;
    }));
    el.item.dataset.itemId = next.itemId;
    el.item.hidden = false;
    el.waiting.hidden = true;
    document.body.dataset.state = 'item';
    paint();
  }

  function showWaiting() {
    item = null;
    order = [];
    el.item.hidden = true;
    delete el.item.dataset.itemId;
    el.waiting.hidden = false;
    document.body.dataset.state = 'waiting';
  }

  function paint() {
    const k = item ? item.responses.length : 0;
    el.responses.querySelectorAll('.response').forEach((card) => {
      const position = order.indexOf(Number(card.dataset.index)) + 1;
      card.classList.toggle('ranked', position > 0);
      card.setAttribute('aria-pressed', String(position > 0));
      card.querySelector('.rank').textContent = position > 0 ? String(position) : '';
      card.querySelector('.rank-spoken').textContent = position > 0 ? ' Ranked ' + position + ' of ' + k + '.' : ' Not ranked.';
      card.disabled = busy;
    });
    el.rankCount.textContent = !item ? '' : order.length === k ? 'All ranked: ready to submit' : order.length + ' of ' + k + ' ranked';
    el.submit.disabled = busy || !item || order.length !== k;
    el.skip.disabled = busy || !item;
    el.reset.disabled = busy || order.length === 0;
  }

  function toggle(i) {
    if (!item || busy || i < 0 || i >= item.responses.length) {
      return;
    }
    const at = order.indexOf(i);
    if (at >= 0) {
      order.splice(at, 1);
    } else {
      order.push(i);
    }
    paint();
  }

  async function loadNext() {
    try {
      const { status, json } = await call('/api/next');
      if (status !== 200) {
        throw new Error(json.error || 'HTTP ' + status);
      }
      showStatus(json.progress, json.status);
      if (json.done) {
        showWaiting();
        schedule(loadNext, POLL_WAITING_MS);
      } else {
        if (!item || item.itemId !== json.itemId) {
          showItem(json);
        }
        schedule(refreshStatus, POLL_STATUS_MS);
      }
    } catch (e) {
      say('Cannot reach the labelling server (' + e.message + '); retrying…', true);
      schedule(loadNext, RETRY_MS);
    }
  }

  async function refreshStatus() {
    try {
      const { status, json } = await call('/api/status');
      if (status === 200) {
        showStatus(json.progress, json.status);
      }
    } catch (e) {
      // the next refresh or answer reports it
    }
    schedule(refreshStatus, POLL_STATUS_MS);
  }

  async function answer(path, body, done) {
    busy = true;
    paint();
    try {
      const { status, json } = await call(path, body);
      if (status === 200) {
        say(done);
        showStatus(json.progress, null);
        item = null;
      } else if (status === 404 || status === 409) {
        say('That item was already answered elsewhere; here is the next one.');
        item = null;
      } else {
        say(json.error || 'The server refused the answer (HTTP ' + status + ').', true);
      }
    } catch (e) {
      say('Could not send the answer (' + e.message + '); please try again.', true);
    }
    busy = false;
    if (item) {
      paint();
    } else {
      await loadNext();
    }
  }

  el.submit.addEventListener('click', () => {
    if (item && order.length === item.responses.length) {
      answer('/api/label', { itemId: item.itemId, ranking: order.slice() }, 'Ranking saved.');
    }
  });
  el.skip.addEventListener('click', () => {
    if (item) {
      answer('/api/skip', { itemId: item.itemId }, 'Skipped.');
    }
  });
  el.reset.addEventListener('click', () => {
    order = [];
    paint();
  });
  document.addEventListener('keydown', (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || !/^[1-9]$/.test(e.key)) {
      return;
    }
    toggle(Number(e.key) - 1);
  });

  document.body.dataset.state = 'loading';
  loadNext();
})();
