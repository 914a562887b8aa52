package io.osprey.outbox;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.rabbitmq.stream.Constants;
import io.osprey.outbox.StreamPublisher.Outcome;
import io.osprey.testing.UnitTest;
import org.junit.jupiter.api.Test;

/** Which unconfirmed messages may take a new publishing id, and which must keep theirs. */
@UnitTest
class PublishOutcomeTest {

  @Test
  void aMessageThatNeverLeftTheClientMayBeSentAgainUnderANewId() {
    assertEquals(Outcome.NOT_SENT, Outcome.ofCode(Constants.CODE_PRODUCER_NOT_AVAILABLE));
    assertEquals(Outcome.NOT_SENT, Outcome.ofCode(Constants.CODE_MESSAGE_ENQUEUEING_FAILED));
  }

  @Test
  void aMessageTheBrokerRefusedMayBeSentAgainUnderANewId() {
    assertEquals(Outcome.NOT_SENT, Outcome.ofCode(Constants.RESPONSE_CODE_STREAM_NOT_AVAILABLE));
    assertEquals(Outcome.NOT_SENT, Outcome.ofCode(Constants.RESPONSE_CODE_PUBLISHER_DOES_NOT_EXIST));
    assertEquals(Outcome.NOT_SENT, Outcome.ofCode(Constants.RESPONSE_CODE_ACCESS_REFUSED));
  }

  @Test
  void aMessageWrittenToAConnectionWithoutAConfirmKeepsItsId() {
    assertEquals(Outcome.UNKNOWN, Outcome.ofCode(Constants.CODE_PUBLISH_CONFIRM_TIMEOUT));
    assertEquals(Outcome.UNKNOWN, Outcome.ofCode(Constants.CODE_PRODUCER_CLOSED));
    assertEquals(Outcome.UNKNOWN, Outcome.ofCode((short) 12_345), "a code this client does not know yet");
  }
}
