/**
 * cityhall form push: tell cityhall about a form response the moment it lands in the sheet.
 *
 * Install (see README.md, "Form intake"):
 *   1. Open the form's response spreadsheet > Extensions > Apps Script, paste this file.
 *   2. Project Settings > Script properties:
 *        CITYHALL_URL          https://cityhall.example.jp/webhooks/forms
 *        CITYHALL_PUSH_SECRET  the same value as [forms] push_secret (CITYHALL_FORMS_PUSH_SECRET)
 *   3. Triggers > Add Trigger: function onFormSubmit, event source "From spreadsheet",
 *      event type "On form submit". Authorise the script when asked.
 *
 * The whole row is sent, read back from the sheet: for an edited response, Apps Script's
 * e.namedValues holds only the edited answers, and cityhall must see every answer to compare.
 * A push is a hint: if it fails, the next poll takes the response in anyway.
 */

function onFormSubmit(e) {
  var props = PropertiesService.getScriptProperties();
  var url = props.getProperty('CITYHALL_URL');
  var secret = props.getProperty('CITYHALL_PUSH_SECRET');
  if (!url || !secret) {
    console.error('cityhall push: set the CITYHALL_URL and CITYHALL_PUSH_SECRET script properties');
    return;
  }
  var payload = JSON.stringify({
    namedValues: namedValuesOf_(e),
    timestamp: Math.floor(Date.now() / 1000),
  });
  var digest = Utilities.computeHmacSha256Signature(payload, secret, Utilities.Charset.UTF_8);
  var response = UrlFetchApp.fetch(url, {
    method: 'post',
    contentType: 'application/json; charset=utf-8',
    payload: payload,
    headers: {'X-Cityhall-Signature': 'sha256=' + toHex_(digest)},
    muteHttpExceptions: true,
  });
  // Log the status only: the body of a refusal names the problem, never an answer.
  console.log('cityhall push: HTTP ' + response.getResponseCode() + ' ' + response.getContentText());
}

/** {title: [value, ...]} for the submitted row; a title in several columns gets several values. */
function namedValuesOf_(e) {
  if (!e || !e.range) {
    return e && e.namedValues ? e.namedValues : {};
  }
  var sheet = e.range.getSheet();
  var width = sheet.getLastColumn();
  var header = sheet.getRange(1, 1, 1, width).getDisplayValues()[0];
  var row = sheet.getRange(e.range.getRow(), 1, 1, width).getDisplayValues()[0];
  var named = {};
  for (var i = 0; i < width; i++) {
    var title = String(header[i]);
    if (!title) continue;  // a column without a title is not a question
    (named[title] = named[title] || []).push(String(row[i]));
  }
  return named;
}

/** Lower-case hex of a signed byte array (Apps Script bytes are -128..127). */
function toHex_(bytes) {
  return bytes
    .map(function (b) {
      var v = (b < 0 ? b + 256 : b).toString(16);
      return v.length === 1 ? '0' + v : v;
    })
    .join('');
}
